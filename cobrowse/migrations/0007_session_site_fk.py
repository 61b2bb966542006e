# Every session belongs to a site: the link 0006 filled replaces the old choice.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('cobrowse', '0006_sessions_to_sites'),
    ]

    operations = [
        migrations.RemoveField(model_name='session', name='site'),
        migrations.RenameField(model_name='session', old_name='site_ref', new_name='site'),
        migrations.AlterField(
            model_name='session',
            name='site',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='sessions', to='cobrowse.site'),
        ),
    ]
