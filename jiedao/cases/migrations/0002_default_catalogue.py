from django.db import migrations


def load_catalogue(apps, schema_editor):
    from jiedao.cases.catalogue import load

    load(apps.get_model("cases", "Category"))


class Migration(migrations.Migration):
    dependencies = [("cases", "0001_initial")]
    operations = [migrations.RunPython(load_catalogue, migrations.RunPython.noop)]
