from django.db import migrations


def load(apps, schema_editor):
    from jiedao.records.defaults import load_defaults

    load_defaults(apps.get_model("records", "ActivityType"), apps.get_model("records", "Indicator"))


class Migration(migrations.Migration):
    dependencies = [("records", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
