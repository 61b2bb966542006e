"""Create the demo accounts, sites and teams (safe to run again: it updates what exists).

- An operator for the help desk and an admin for reviewing sessions; their credentials are in
  the README. Never run this in production.
- The demo shop and bank as Sites with fixed public keys (`pk_demo_shop`, `pk_demo_bank`), the
  signing secrets of settings DEMO_SHOP_SECRET / DEMO_BANK_SECRET and the allowed origins of
  DEMO_MERCHANT_ORIGINS (the demo merchant's origin), so the demo pages and the tests can name
  them without reading the database. Run again with other settings, it points them elsewhere.
- "Shop team" serves the shop, "Bank team" the bank; the demo operator is in both.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.core.management.base import BaseCommand

from cobrowse.embed import normalize_origin
from cobrowse.models import Site, Team

DEMO_ACCOUNTS = {
    # username: (password, superuser)
    "operator": ("operator-demo", False),
    "admin": ("admin-demo", True),
}
# public key: (name, setting of its secret, team)
DEMO_SITES = {
    "pk_demo_shop": ("Demo shop", "DEMO_SHOP_SECRET", "Shop team"),
    "pk_demo_bank": ("Demo bank", "DEMO_BANK_SECRET", "Bank team"),
}


def demo_sites_setup() -> dict[str, Site]:
    """The demo sites and their teams, as the settings say now."""
    origins = [o for o in map(normalize_origin, settings.DEMO_MERCHANT_ORIGINS) if o]
    sites = {}
    for key, (name, secret_setting, team_name) in DEMO_SITES.items():
        site, _ = Site.objects.update_or_create(
            public_key=key,
            defaults={
                "name": name,
                "secret": getattr(settings, secret_setting),
                "allowed_origins": origins,
                "enabled": True,
            },
        )
        team, _ = Team.objects.get_or_create(name=team_name)
        team.sites.add(site)
        sites[key] = site
    return sites


def demo_site(public_key: str = "pk_demo_shop") -> Site:
    """A demo site, made with the others if it does not exist yet (tests, bench, chaos)."""
    site = Site.objects.filter(public_key=public_key).first()
    return site if site is not None else demo_sites_setup()[public_key]


def demo_teams_join(user: User) -> None:
    """Put `user` in the teams of the demo sites, making each team (serving its site) if it
    does not exist: a database whose sites came from before teams has the sites only."""
    for key, (_, _, team_name) in DEMO_SITES.items():
        team, _ = Team.objects.get_or_create(name=team_name)
        team.sites.add(demo_site(key))
        team.members.add(user)


class Command(BaseCommand):
    help = "Create the demo operator and admin accounts, the demo sites and their teams."

    def handle(self, *args: Any, **options: Any) -> None:
        permission = Permission.objects.get(codename="operate_session")
        for username, (password, superuser) in DEMO_ACCOUNTS.items():
            user, created = User.objects.get_or_create(
                username=username, defaults={"first_name": username.title()}
            )
            user.is_staff = True
            user.is_superuser = superuser
            user.set_password(password)
            user.save()
            user.user_permissions.add(permission)
            verb = "created" if created else "updated"
            self.stdout.write(f"{verb} {username} / {password}")
        sites = demo_sites_setup()
        demo_teams_join(User.objects.get(username="operator"))
        for site in sites.values():
            origins = ", ".join(site.allowed_origins)
            self.stdout.write(f"site {site.name}: {site.public_key}, origins {origins}")
