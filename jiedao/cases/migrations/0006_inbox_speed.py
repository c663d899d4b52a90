"""Indexes for the inboxes at a million cases (docs/cases.md, "Speed at 1,000,000 cases").

The 全部 tab of a community, grid or department lists its cases newest first, per branch of
its scope (place, handling unit): (org_unit, created_at) and (handler_unit, created_at) let each
branch read its first page in index order instead of sorting every case of the unit.
"""

from django.db import migrations, models

INDEXES = [
    models.Index(fields=["org_unit", "created_at"], name="case_unit_created"),
    models.Index(fields=["handler_unit", "created_at"], name="case_hunit_created"),
]


class Migration(migrations.Migration):

    dependencies = [
        ('cases', '0005_partial_indexes'),
    ]

    operations = [migrations.AddIndex(model_name="case", index=index) for index in INDEXES]
