"""first schema of the follow-up database (the baseline)

The schema ``create_all`` made before the follow-up database had migrations.
Every table and index is created ``IF NOT EXISTS``: a database made by an
older ``create_all`` (tables present, no ``alembic_version``) is brought to
this schema by running this revision over it: it adds only the tables and
indexes that older version had not made yet (it alters no existing table),
then the database is stamped 0001. Later revisions are ordinary migrations.

Revision ID: 0001
Revises: (none)
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=100), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("remote", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
        if_not_exists=True,
    )
    op.create_index(
        "ix_audit_events_action_at", "audit_events", ["action", "at"], if_not_exists=True
    )
    op.create_index(op.f("ix_audit_events_at"), "audit_events", ["at"], if_not_exists=True)

    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("topic", sa.String(length=300), nullable=False),
        sa.Column("station_id", sa.String(length=63), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
        if_not_exists=True,
    )
    op.create_index(
        op.f("ix_dead_letters_received_at"), "dead_letters", ["received_at"], if_not_exists=True
    )

    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("remote", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
        if_not_exists=True,
    )
    op.create_index(
        "ix_login_attempts_username_at", "login_attempts", ["username", "at"], if_not_exists=True
    )

    op.create_table(
        "residents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("id_number", sa.String(length=18), nullable=False),
        sa.Column("id_masked", sa.String(length=18), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("sex", sa.String(length=8), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("area", sa.String(length=200), nullable=True),
        sa.Column("hypertension_programme", sa.Boolean(), nullable=False),
        sa.Column("diabetes_programme", sa.Boolean(), nullable=False),
        sa.Column("responsible_doctor_id", sa.Integer(), nullable=True),
        sa.Column("home_station_id", sa.String(length=63), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_residents")),
        sa.UniqueConstraint("id_hash", name=op.f("uq_residents_id_hash")),
        if_not_exists=True,
    )
    op.create_index(
        op.f("ix_residents_home_station_id"), "residents", ["home_station_id"], if_not_exists=True
    )
    op.create_index(
        op.f("ix_residents_responsible_doctor_id"),
        "residents",
        ["responsible_doctor_id"],
        if_not_exists=True,
    )

    op.create_table(
        "rollouts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("release", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=63), nullable=False),
        sa.Column("manifest_url", sa.Text(), nullable=False),
        sa.Column("group", sa.String(length=63), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("current_stage", sa.Integer(), nullable=False),
        sa.Column("stages", sa.JSON(), nullable=False),
        sa.Column("success_threshold", sa.Double(), nullable=False),
        sa.Column("error_threshold", sa.Double(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("orders_cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollouts")),
        if_not_exists=True,
    )
    op.create_index(op.f("ix_rollouts_state"), "rollouts", ["state"], if_not_exists=True)

    op.create_table(
        "station_commands",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("station_id", sa.String(length=63), nullable=False),
        sa.Column("command", sa.String(length=16), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.String(length=64), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("publish_error", sa.Text(), nullable=True),
        sa.Column("result_ok", sa.Boolean(), nullable=True),
        sa.Column("result_detail", sa.Text(), nullable=True),
        sa.Column("result_output", sa.Text(), nullable=True),
        sa.Column("result_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result_received_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_station_commands")),
        if_not_exists=True,
    )
    op.create_index(
        "ix_station_commands_station_issued",
        "station_commands",
        ["station_id", "issued_at"],
        if_not_exists=True,
    )

    op.create_table(
        "station_config_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.String(length=63), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("group_version", sa.Integer(), nullable=True),
        sa.Column("station_version", sa.Integer(), nullable=True),
        sa.Column("running_group_version", sa.Integer(), nullable=True),
        sa.Column("running_station_version", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("restart_needed", sa.Boolean(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dedup_key", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_station_config_reports")),
        sa.UniqueConstraint("station_id", "dedup_key", name="uq_station_config_reports_dedup"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_station_config_reports_station_at",
        "station_config_reports",
        ["station_id", "at"],
        if_not_exists=True,
    )

    op.create_table(
        "station_update_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.String(length=63), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rollout_id", sa.String(length=200), nullable=False),
        sa.Column("release", sa.Integer(), nullable=True),
        sa.Column("running_release", sa.Integer(), nullable=True),
        sa.Column("step", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dedup_key", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_station_update_reports")),
        sa.UniqueConstraint("station_id", "dedup_key", name="uq_station_update_reports_dedup"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_station_update_reports_station_at",
        "station_update_reports",
        ["station_id", "at"],
        if_not_exists=True,
    )

    op.create_table(
        "stations",
        sa.Column("id", sa.String(length=63), nullable=False),
        sa.Column("group", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("area", sa.String(length=200), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("status_boot_id", sa.String(length=64), nullable=True),
        sa.Column("status_seq", sa.Integer(), nullable=True),
        sa.Column("status", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stations")),
        if_not_exists=True,
    )
    op.create_table(
        "status_watermark",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_watermark")),
        if_not_exists=True,
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
        if_not_exists=True,
    )
    op.create_table(
        "readings",
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("station_id", sa.String(length=63), nullable=False),
        sa.Column("station_seq", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("device_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("systolic_mmhg", sa.Integer(), nullable=True),
        sa.Column("diastolic_mmhg", sa.Integer(), nullable=True),
        sa.Column("mean_arterial_mmhg", sa.Integer(), nullable=True),
        sa.Column("pulse_bpm", sa.Integer(), nullable=True),
        sa.Column("irregular_pulse", sa.Boolean(), nullable=False),
        sa.Column("glucose_mmol_per_l", sa.Double(), nullable=True),
        sa.Column("meal_context", sa.String(length=20), nullable=True),
        sa.Column("out_of_range", sa.String(length=2), nullable=True),
        sa.Column("device_model", sa.String(length=200), nullable=False),
        sa.Column("device_serial", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("isolated_systolic", sa.Boolean(), nullable=True),
        sa.Column("software_version", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name=op.f("fk_readings_resident_id_residents")
        ),
        sa.ForeignKeyConstraint(
            ["station_id"], ["stations.id"], name=op.f("fk_readings_station_id_stations")
        ),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_readings")),
        if_not_exists=True,
    )
    op.create_index(
        "ix_readings_open", "readings", ["reviewed_at", "urgent", "category"], if_not_exists=True
    )
    op.create_index("ix_readings_received_at", "readings", ["received_at"], if_not_exists=True)
    op.create_index(
        "ix_readings_resident_measured",
        "readings",
        ["resident_id", "measured_at"],
        if_not_exists=True,
    )
    op.create_index(
        "ix_readings_station_seq", "readings", ["station_id", "station_seq"], if_not_exists=True
    )

    op.create_table(
        "resident_status",
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("trigger_uuid", sa.String(length=36), nullable=True),
        sa.Column("trigger_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("trigger_kind", sa.String(length=20), nullable=True),
        sa.Column("trigger_summary", sa.String(length=80), nullable=True),
        sa.Column("trigger_station_id", sa.String(length=63), nullable=True),
        sa.Column("rule", sa.String(length=60), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("screening", sa.Boolean(), nullable=False),
        sa.Column("review_due_on", sa.Date(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name=op.f("fk_resident_status_resident_id_residents")
        ),
        sa.PrimaryKeyConstraint("resident_id", name=op.f("pk_resident_status")),
        if_not_exists=True,
    )
    op.create_index("ix_resident_status_due_on", "resident_status", ["due_on"], if_not_exists=True)
    op.create_index(
        "ix_resident_status_level_due_on",
        "resident_status",
        ["level", "due_on"],
        if_not_exists=True,
    )
    op.create_index(
        "ix_resident_status_level_trigger",
        "resident_status",
        ["level", "trigger_at"],
        if_not_exists=True,
    )

    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("doctor_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("remove_reason", sa.String(length=32), nullable=True),
        sa.Column("next_follow_up_on", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("readings", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["doctor_id"], ["users.id"], name=op.f("fk_reviews_doctor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name=op.f("fk_reviews_resident_id_residents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        if_not_exists=True,
    )
    op.create_index(
        "ix_reviews_resident_created", "reviews", ["resident_id", "created_at"], if_not_exists=True
    )

    op.create_table(
        "rollout_stations",
        sa.Column("rollout_id", sa.String(length=40), nullable=False),
        sa.Column("station_id", sa.String(length=63), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("ordered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("step", sa.String(length=40), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("running_release", sa.Integer(), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["rollout_id"], ["rollouts.id"], name=op.f("fk_rollout_stations_rollout_id_rollouts")
        ),
        sa.ForeignKeyConstraint(
            ["station_id"], ["stations.id"], name=op.f("fk_rollout_stations_station_id_stations")
        ),
        sa.PrimaryKeyConstraint("rollout_id", "station_id", name=op.f("pk_rollout_stations")),
        if_not_exists=True,
    )
    op.create_index(
        "ix_rollout_stations_station", "rollout_stations", ["station_id"], if_not_exists=True
    )

    op.create_table(
        "alerts",
        sa.Column("reading_uuid", sa.String(length=36), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mqtt_published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("webhook_status", sa.String(length=40), nullable=True),
        sa.Column("delivery_error", sa.Text(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"], ["users.id"], name=op.f("fk_alerts_acknowledged_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["reading_uuid"], ["readings.uuid"], name=op.f("fk_alerts_reading_uuid_readings")
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name=op.f("fk_alerts_resident_id_residents")
        ),
        sa.PrimaryKeyConstraint("reading_uuid", name=op.f("pk_alerts")),
        if_not_exists=True,
    )
    op.create_index(op.f("ix_alerts_resident_id"), "alerts", ["resident_id"], if_not_exists=True)


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_table("rollout_stations")
    op.drop_table("reviews")
    op.drop_table("resident_status")
    op.drop_table("readings")
    op.drop_table("users")
    op.drop_table("status_watermark")
    op.drop_table("stations")
    op.drop_table("station_update_reports")
    op.drop_table("station_config_reports")
    op.drop_table("station_commands")
    op.drop_table("rollouts")
    op.drop_table("residents")
    op.drop_table("login_attempts")
    op.drop_table("dead_letters")
    op.drop_table("audit_events")
