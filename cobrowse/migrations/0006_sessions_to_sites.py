# The old fixed choice of site ("shop", "bank") becomes one Site row per value in use. They get
# the demo's public keys, so that `manage.py demo_setup` takes these rows over (and sets their
# allowed origins and secrets) instead of making two more; their secrets are new and random,
# and with no allowed origin no other page can use them until someone sets one.

import secrets

from django.db import migrations

LEGACY = {"shop": ("Demo shop", "pk_demo_shop"), "bank": ("Demo bank", "pk_demo_bank")}


def forwards(apps, schema_editor):
    Site = apps.get_model("cobrowse", "Site")
    Session = apps.get_model("cobrowse", "Session")
    for value in Session.objects.values_list("site", flat=True).distinct().order_by("site"):
        name, key = LEGACY.get(value, (value.title(), f"pk_legacy_{value}"))
        site, _ = Site.objects.get_or_create(
            public_key=key, defaults={"name": name, "secret": secrets.token_urlsafe(32)}
        )
        Session.objects.filter(site=value).update(site_ref=site)


def backwards(apps, schema_editor):
    Session = apps.get_model("cobrowse", "Session")
    for key, value in (("pk_demo_shop", "shop"), ("pk_demo_bank", "bank")):
        Session.objects.filter(site_ref__public_key=key).update(site=value)


class Migration(migrations.Migration):

    dependencies = [
        ('cobrowse', '0005_site_team'),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
