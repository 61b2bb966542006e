# Sites and teams; sessions get a link to their site next to the old "shop"/"bank" choice, which
# 0006 turns into Site rows and 0007 removes.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import cobrowse.models


class Migration(migrations.Migration):

    dependencies = [
        ('cobrowse', '0004_participant_connected_at'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Site',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100)),
                ('public_key', models.CharField(default=cobrowse.models.new_public_key, help_text='Public: goes into the install snippet on the site\'s pages.', max_length=64, unique=True)),
                ('allowed_origins', models.JSONField(blank=True, default=list, help_text='Origins (scheme://host[:port]) whose pages may open sessions, one per line.')),
                ('secret', models.CharField(default=cobrowse.models.new_secret, max_length=128)),
                ('previous_secret', models.CharField(blank=True, help_text='Still accepted for identity tokens until cleared (after a key rotation).', max_length=128)),
                ('enabled', models.BooleanField(default=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={'ordering': ['name']},
        ),
        migrations.CreateModel(
            name='Team',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100, unique=True)),
                ('members', models.ManyToManyField(blank=True, related_name='cobrowse_teams', to=settings.AUTH_USER_MODEL)),
                ('sites', models.ManyToManyField(blank=True, related_name='teams', to='cobrowse.site')),
            ],
            options={'ordering': ['name']},
        ),
        migrations.AddField(
            model_name='session',
            name='site_ref',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='cobrowse.site'),
        ),
        migrations.AddField(
            model_name='session',
            name='identity_verified',
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name='session',
            name='customer_id',
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name='session',
            name='customer_name',
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name='session',
            name='customer_email',
            field=models.CharField(blank=True, max_length=254),
        ),
    ]
