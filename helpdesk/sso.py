"""Single sign-on with OpenID Connect (mozilla-django-oidc; docs/integrations.md).

At each sign-in the user is created or updated from the provider's claims: the team claim
(`OIDC_TEAM_CLAIM`, a list of group names) decides their teams (a group `team:<Team name>`, or
one of `OIDC_TEAM_MAP`), whether they are an operator (`OIDC_OPERATOR_GROUP`: staff with the
`cobrowse.operate_session` permission) and whether they are an admin (`OIDC_ADMIN_GROUP`:
superuser). Someone in neither group is refused with a page that says why, and loses the
operator and admin rights an earlier sign-in gave them.
Signing out also ends the provider's session when it has an end_session_endpoint.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView

from cobrowse.models import Team

logger = logging.getLogger(__name__)

REFUSAL_ATTRIBUTE = "sso_refusal"


def claim_groups(claims: dict[str, Any]) -> set[str]:
    value = claims.get(settings.OIDC_TEAM_CLAIM) or []
    if isinstance(value, str):
        value = [value]
    return {str(group) for group in value}


def team_names(groups: set[str]) -> set[str]:
    """The names of the teams these groups stand for."""
    prefix = settings.OIDC_TEAM_PREFIX
    names = {group[len(prefix) :] for group in groups if prefix and group.startswith(prefix)}
    names |= {team for group, team in settings.OIDC_TEAM_MAP.items() if group in groups}
    return names


def operate_permission() -> Permission:
    return Permission.objects.get(content_type__app_label="cobrowse", codename="operate_session")


@transaction.atomic
def user_apply_claims(*, user: User, claims: dict[str, Any]) -> User:
    """Make `user` what the provider's claims say: name and email, operator (staff with the
    cobrowse permission) or not, admin (superuser) or not, and the teams of their groups
    (teams are not created here: a group naming no team is logged and left out)."""
    groups = claim_groups(claims)
    admin = settings.OIDC_ADMIN_GROUP in groups
    operator = admin or settings.OIDC_OPERATOR_GROUP in groups
    user.email = str(claims.get("email") or user.email)
    user.first_name = str(claims.get("given_name") or claims.get("name") or "")[:150]
    user.last_name = str(claims.get("family_name") or "")[:150]
    user.is_staff = operator
    user.is_superuser = admin
    user.save()
    if operator:
        user.user_permissions.add(operate_permission())
    else:
        user.user_permissions.remove(operate_permission())
    names = team_names(groups)
    teams = list(Team.objects.filter(name__in=names))
    unknown = names - {team.name for team in teams}
    if unknown:
        logger.warning("%s: no team is named %s", user.username, ", ".join(sorted(unknown)))
    user.cobrowse_teams.set(teams)
    return user


class TeamClaimsBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend, with users found by their username claim and their teams
    and roles taken from the team claim."""

    def username(self, claims: dict[str, Any]) -> str:
        username = claims.get(settings.OIDC_USERNAME_CLAIM) or claims.get("sub")
        if not username:
            raise PermissionDenied("the provider sent no username")
        return str(username)[:150]

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        groups = claim_groups(claims)
        if settings.OIDC_OPERATOR_GROUP in groups or settings.OIDC_ADMIN_GROUP in groups:
            return True
        username = self.username(claims)
        # Who was an operator and is no longer in the group loses the rights at once.
        for user in self.UserModel.objects.filter(username=username):
            user_apply_claims(user=user, claims=claims)
        setattr(
            self.request,
            REFUSAL_ATTRIBUTE,
            f"{username} is not in the group {settings.OIDC_OPERATOR_GROUP} of "
            f"{settings.OIDC_PROVIDER_NAME}, which the help desk's operators are in.",
        )
        # Ends Django's authenticate() without a user; the callback shows the refusal.
        raise PermissionDenied("not an operator")

    def filter_users_by_claims(self, claims: dict[str, Any]) -> Any:
        return self.UserModel.objects.filter(username=self.username(claims))

    def create_user(self, claims: dict[str, Any]) -> User:
        user = self.UserModel.objects.create_user(self.username(claims))
        user.set_unusable_password()
        return user_apply_claims(user=user, claims=claims)

    def update_user(self, user: User, claims: dict[str, Any]) -> User:
        return user_apply_claims(user=user, claims=claims)


class CallbackView(OIDCAuthenticationCallbackView):
    """The provider's redirect back: a refused sign-in is a 403 page that says why, never a
    session."""

    def login_failure(self) -> HttpResponse:
        request: HttpRequest = self.request
        reason = getattr(request, REFUSAL_ATTRIBUTE, "") or (
            f"{settings.OIDC_PROVIDER_NAME} did not confirm who you are. Try to sign in again."
        )
        return render(
            request,
            "helpdesk/login_refused.html",
            {"reason": reason, "provider": settings.OIDC_PROVIDER_NAME},
            status=403,
        )


def provider_logout_url(request: HttpRequest) -> str:
    """Where signing out leads: the provider's end_session_endpoint (RP-initiated logout) when
    it has one and this session began there, otherwise the sign-in page."""
    after = request.build_absolute_uri(settings.LOGOUT_REDIRECT_URL)
    id_token = request.session.get("oidc_id_token")
    if not settings.OIDC_OP_END_SESSION_ENDPOINT or not id_token:
        return str(settings.LOGOUT_REDIRECT_URL)
    query = urlencode(
        {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": after,
            "client_id": settings.OIDC_RP_CLIENT_ID,
        }
    )
    return f"{settings.OIDC_OP_END_SESSION_ENDPOINT}?{query}"
