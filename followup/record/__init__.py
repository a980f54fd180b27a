"""The national follow-up record (随访服务记录表) of the 国家基本公共卫生服务规范(第三版):
its fields (:mod:`.fields`), the pre-fill from the kiosk's readings (:mod:`.prefill`)
and the export for the district's system (:mod:`.export`). docs/forms.md has the
forms' wording and where it comes from."""
