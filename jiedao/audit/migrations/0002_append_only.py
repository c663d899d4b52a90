from django.db import migrations

from jiedao.audit import appendonly


def forwards(apps, schema_editor):
    appendonly.install(schema_editor.connection)


def backwards(apps, schema_editor):
    appendonly.remove(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
