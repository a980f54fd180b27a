"""first schema of the kiosk store

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table('applied_config',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=20), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_applied_config'))
    )
    op.create_table('device_cursors',
    sa.Column('device_key', sa.String(length=200), nullable=False),
    sa.Column('last_sequence', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('device_key', name=op.f('pk_device_cursors'))
    )
    op.create_table('device_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('device', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_events'))
    )
    op.create_table('meta',
    sa.Column('key', sa.String(length=50), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_meta'))
    )
    op.create_table('residents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('id_number', sa.String(length=18), nullable=False),
    sa.Column('id_masked', sa.String(length=18), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=True),
    sa.Column('sex', sa.String(length=8), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_residents')),
    sa.UniqueConstraint('id_hash', name=op.f('uq_residents_id_hash'))
    )
    op.create_table('visits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=True),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_visits_resident_id_residents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visits')),
    sa.UniqueConstraint('uuid', name=op.f('uq_visits_uuid'))
    )
    op.create_table('readings',
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('station_seq', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('measured_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('device_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('systolic_mmhg', sa.Integer(), nullable=True),
    sa.Column('diastolic_mmhg', sa.Integer(), nullable=True),
    sa.Column('mean_arterial_mmhg', sa.Integer(), nullable=True),
    sa.Column('pulse_bpm', sa.Integer(), nullable=True),
    sa.Column('irregular_pulse', sa.Boolean(), nullable=False),
    sa.Column('measurements', sa.JSON(), nullable=True),
    sa.Column('glucose_mmol_per_l', sa.Double(), nullable=True),
    sa.Column('meal_context', sa.String(length=20), nullable=True),
    sa.Column('original_value', sa.Double(), nullable=True),
    sa.Column('original_unit', sa.String(length=10), nullable=True),
    sa.Column('out_of_range', sa.String(length=2), nullable=True),
    sa.Column('device_model', sa.String(length=100), nullable=False),
    sa.Column('device_manufacturer', sa.String(length=100), nullable=False),
    sa.Column('device_serial', sa.String(length=100), nullable=False),
    sa.Column('device_firmware', sa.String(length=100), nullable=False),
    sa.Column('device_transport', sa.String(length=10), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('urgent', sa.Boolean(), nullable=False),
    sa.Column('isolated_systolic', sa.Boolean(), nullable=True),
    sa.Column('close_to_limit', sa.Boolean(), nullable=False),
    sa.Column('rule', sa.String(length=200), nullable=True),
    sa.Column('software_version', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], name=op.f('fk_readings_resident_id_residents')),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_readings_visit_id_visits')),
    sa.PrimaryKeyConstraint('uuid', name=op.f('pk_readings')),
    sa.UniqueConstraint('station_seq', name=op.f('uq_readings_station_seq'))
    )
    with op.batch_alter_table('readings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_readings_measured_at'), ['measured_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_readings_resident_id'), ['resident_id'], unique=False)

    op.create_table('outbox',
    sa.Column('reading_uuid', sa.String(length=36), nullable=False),
    sa.Column('enqueued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rejected_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rejected_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['reading_uuid'], ['readings.uuid'], name=op.f('fk_outbox_reading_uuid_readings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('reading_uuid', name=op.f('pk_outbox'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_pending', ['delivered_at', 'rejected_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_pending')

    op.drop_table('outbox')
    with op.batch_alter_table('readings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_readings_resident_id'))
        batch_op.drop_index(batch_op.f('ix_readings_measured_at'))

    op.drop_table('readings')
    op.drop_table('visits')
    op.drop_table('residents')
    op.drop_table('meta')
    op.drop_table('device_events')
    op.drop_table('device_cursors')
    op.drop_table('applied_config')
