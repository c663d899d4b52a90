"""A new case updates every index of cases_case: the single-column indexes of foreign keys that
lead a composite index (category, street, org_unit, handler_unit) are dropped — the composite
serves their look-ups — and those of the mostly empty resident and enterprise become partial.

Only the indexes are dropped: letting ``AlterField`` do it would copy the whole table on SQLite
(once per field) and re-check the foreign keys on PostgreSQL. The names are Django's own for
these fields, the same on both databases.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

DROPPED = {
    "cases_case_category_id_c6dc5a5a": "category_id",
    "cases_case_street_id_be226825": "street_id",
    "cases_case_org_unit_id_bed93ba9": "org_unit_id",
    "cases_case_handler_unit_id_5c60445f": "handler_unit_id",
    "cases_case_resident_id_cb294121": "resident_id",
    "cases_case_enterprise_id_76ed246e": "enterprise_id",
}


class Migration(migrations.Migration):

    dependencies = [
        ('cases', '0006_inbox_speed'),
        ('core', '0001_initial'),
        ('ledgers', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='case',
                    name='category',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='cases', to='cases.category', verbose_name='分类'),
                ),
                migrations.AlterField(
                    model_name='case',
                    name='enterprise',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='cases', to='ledgers.enterprise', verbose_name='企业'),
                ),
                migrations.AlterField(
                    model_name='case',
                    name='handler_unit',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='handled_cases', to='core.orgunit', verbose_name='承办单位'),
                ),
                migrations.AlterField(
                    model_name='case',
                    name='org_unit',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='cases', to='core.orgunit', verbose_name='所在社区/网格'),
                ),
                migrations.AlterField(
                    model_name='case',
                    name='resident',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='cases', to='ledgers.resident', verbose_name='服务对象'),
                ),
                migrations.AlterField(
                    model_name='case',
                    name='street',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='core.orgunit', verbose_name='街道'),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql=[f'DROP INDEX IF EXISTS "{name}"' for name in DROPPED],
                    reverse_sql=[f'CREATE INDEX "{name}" ON "cases_case" ("{column}")'
                                 for name, column in DROPPED.items()],
                ),
            ],
        ),
        migrations.AddIndex(
            model_name='case',
            index=models.Index(condition=models.Q(('resident__isnull', False)), fields=['resident'], name='case_resident_nn'),
        ),
        migrations.AddIndex(
            model_name='case',
            index=models.Index(condition=models.Q(('enterprise__isnull', False)), fields=['enterprise'], name='case_enterprise_nn'),
        ),
    ]
