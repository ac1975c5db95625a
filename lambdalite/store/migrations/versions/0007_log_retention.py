"""Log groups' retention and CloudWatch Logs API state.

The retention column itself came with 0003; the Logs API needs a stream's events in
(timestamp, id) order, so the stream index ordered by id alone becomes one by time.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_log_events_stream_time",
        "log_events",
        ["account_id", "log_group", "log_stream", "timestamp", "id"],
    )
    op.drop_index("ix_log_events_stream", table_name="log_events")


def downgrade() -> None:
    op.create_index(
        "ix_log_events_stream", "log_events", ["account_id", "log_group", "log_stream", "id"]
    )
    op.drop_index("ix_log_events_stream_time", table_name="log_events")
