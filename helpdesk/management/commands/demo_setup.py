"""Create the demo accounts (safe to run again): an operator for the help desk and an admin
for reviewing sessions. Their credentials are in the README; never run this in production."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission, User
from django.core.management.base import BaseCommand

DEMO_ACCOUNTS = {
    # username: (password, superuser)
    "operator": ("operator-demo", False),
    "admin": ("admin-demo", True),
}


class Command(BaseCommand):
    help = "Create the demo operator and admin accounts."

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
