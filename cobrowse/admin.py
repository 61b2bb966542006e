"""Sites, teams, sessions, participants and the read-only journal in Django admin.

- A site's page has its install snippet and identity-signing example ready to copy (the
  Install page), and actions to rotate its signing secret and to clear the previous one.
- An API token (the REST API, cobrowse/api.py) is created for a site with a name; its full
  secret is shown once, on the page that answers its creation, and only its hash is kept. It
  is revoked with an action; a revoked token stays listed.
- A session has a Replay page that plays it back from its journal and a JSON export of the
  whole journal. Staff who are not superusers see, replay and export only the sessions of the
  sites their teams serve (`policy.sessions_served`); another site's session is a 403.
- A site's webhook endpoints, and every delivery with its attempts and last error; a delivery
  can be sent again (the "Redeliver" action and button). Scoped to the sites served too.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from . import api_tokens, embed, lifecycle, policy, selectors, webhooks
from .models import (
    ApiToken,
    Operation,
    Participant,
    Session,
    Site,
    Team,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEventType,
    new_secret,
)


class SiteForm(forms.ModelForm[Site]):
    allowed_origins = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        required=False,
        help_text="One origin per line, scheme://host[:port], e.g. https://shop.example.com",
    )

    class Meta:
        model = Site
        fields = ("name", "public_key", "allowed_origins", "enabled")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.initial["allowed_origins"] = "\n".join(self.instance.allowed_origins or ())

    def clean_allowed_origins(self) -> list[str]:
        origins: list[str] = []
        for line in str(self.cleaned_data.get("allowed_origins") or "").splitlines():
            if not line.strip():
                continue
            origin = embed.normalize_origin(line)
            if origin is None:
                raise ValidationError(
                    f"{line.strip()!r} is not an origin: scheme://host[:port], no path"
                )
            if origin not in origins:
                origins.append(origin)
        return origins


def desk_url(request: HttpRequest) -> str:
    """This desk's base URL as a merchant's page reaches it (https behind a TLS proxy that sets
    X-Forwarded-Proto, SECURE_PROXY_SSL_HEADER)."""
    return request.build_absolute_uri("/").rstrip("/")


def install_snippets(*, site: Site, desk: str) -> dict[str, str]:
    """What the admin copies into the merchant's pages and server (docs/install.md)."""
    key = site.public_key
    sockets = (
        "wss://" + desk.removeprefix("https://")
        if desk.startswith("https://")
        else ("ws://" + desk.removeprefix("http://"))
    )
    return {
        "csp": (
            f"script-src 'self' {desk}; style-src 'self' {desk}; "
            f"connect-src 'self' {desk} {sockets}"
        ),
        "script": (
            f'<script src="{desk}/static/cobrowse/embed.js" data-site="{key}" async></script>'
        ),
        "module": (
            '<script type="module">\n'
            f'  import {{ start }} from "{desk}/static/cobrowse/embed.mjs";\n'
            f'  start({{ site: "{key}" }});\n'
            "</script>"
        ),
        "identity_attribute": (
            f'<script src="{desk}/static/cobrowse/embed.js" data-site="{key}"\n'
            '        data-identity="<the JWT your server signed>" async></script>'
        ),
        "python": (
            "import os\n"
            "import time\n"
            "\n"
            "import jwt  # pip install PyJWT\n"
            "\n"
            f'SITE_KEY = "{key}"\n'
            'SECRET = os.environ["COBROWSE_SITE_SECRET"]  # the signing secret on this page\n'
            "\n"
            "def cobrowse_identity(user):\n"
            "    now = int(time.time())\n"
            "    claims = {\n"
            '        "sub": str(user.id), "name": user.get_full_name(), "email": user.email,\n'
            '        "aud": SITE_KEY, "iat": now, "exp": now + 600,\n'
            "    }\n"
            '    return jwt.encode(claims, SECRET, algorithm="HS256")'
        ),
        "node": (
            'import jwt from "jsonwebtoken"; // npm install jsonwebtoken\n'
            "\n"
            f'const SITE_KEY = "{key}";\n'
            "const SECRET = process.env.COBROWSE_SITE_SECRET; // the signing secret on this page\n"
            "\n"
            "export function cobrowseIdentity(user) {\n"
            "  return jwt.sign(\n"
            "    { sub: String(user.id), name: user.name, email: user.email },\n"
            "    SECRET,\n"
            '    { algorithm: "HS256", audience: SITE_KEY, expiresIn: "10m" },\n'
            "  );\n"
            "}"
        ),
    }


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin[Site]):
    form = SiteForm
    list_display = ("name", "public_key", "origins", "enabled", "rotation", "created_at", "install")
    list_filter = ("enabled",)
    search_fields = ("name", "public_key")
    readonly_fields = ("secret", "previous_secret", "created_at", "install")
    actions = ("rotate_secret", "clear_previous_secret")

    def get_fields(self, request: HttpRequest, obj: Site | None = None) -> tuple[str, ...]:
        # The secrets once saved: an unsaved site's would change before it is.
        fields = ("name", "public_key", "allowed_origins", "enabled")
        if obj is None:
            return fields
        return (*fields, "install", "secret", "previous_secret", "created_at")

    @admin.display(description="Allowed origins")
    def origins(self, obj: Site) -> str:
        return ", ".join(obj.allowed_origins or ()) or "—"

    @admin.display(description="Previous secret", boolean=True)
    def rotation(self, obj: Site) -> bool:
        return bool(obj.previous_secret)

    @admin.display(description="Install")
    def install(self, obj: Site) -> str:
        if obj.pk is None:
            return "—"
        return format_html(
            '<a href="{}" class="install-link">Install snippet and identity signing</a>',
            reverse("admin:cobrowse_site_install", args=[obj.pk]),
        )

    @admin.action(description="Rotate the signing secret (the current one stays accepted)")
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[Site]) -> None:
        for site in queryset:
            site.previous_secret = site.secret
            site.secret = new_secret()
            site.save(update_fields=["secret", "previous_secret"])
        self.message_user(
            request,
            f"New signing secrets for {queryset.count()} site(s). Identity tokens signed with "
            "the previous secret are accepted until you clear it: give the merchant the new "
            "one, then clear the previous secret.",
            messages.SUCCESS,
        )

    @admin.action(description="Clear the previous signing secret (end a rotation)")
    def clear_previous_secret(self, request: HttpRequest, queryset: QuerySet[Site]) -> None:
        cleared = queryset.exclude(previous_secret="").update(previous_secret="")
        self.message_user(
            request, f"Cleared the previous secret of {cleared} site(s).", messages.SUCCESS
        )

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<path:object_id>/install/",
                self.admin_site.admin_view(self.install_view),
                name="cobrowse_site_install",
            ),
        ]
        return own + super().get_urls()

    def install_view(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        site = get_object_or_404(Site, pk=object_id)
        if not self.has_view_permission(request, site):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": site,
            "title": f"Install co-browsing on {site.name}",
            "desk": desk_url(request),
            "snippets": install_snippets(site=site, desk=desk_url(request)),
        }
        return TemplateResponse(request, "admin/cobrowse/site/install.html", context)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = ("name", "site", "shown_prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("site", ("revoked_at", admin.EmptyFieldListFilter))
    list_select_related = ("site",)
    search_fields = ("name", "prefix", "site__name")
    readonly_fields = ("shown_prefix", "created_at", "last_used_at", "revoked_at")
    actions = ("revoke",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        # Staff who are not superusers: the tokens of the sites their teams serve.
        served = policy.sites_served(request.user)
        tokens = super().get_queryset(request)
        return tokens if served is None else tokens.filter(site__in=served)

    def formfield_for_foreignkey(
        self, db_field: Any, request: HttpRequest, **kwargs: Any
    ) -> forms.ModelChoiceField[Any] | None:
        served = policy.sites_served(request.user)
        if db_field.name == "site" and served is not None:
            kwargs["queryset"] = served
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> tuple[str, ...]:
        if obj is None:
            return ("site", "name")
        return ("site", "name", "shown_prefix", "created_at", "last_used_at", "revoked_at")

    def get_readonly_fields(
        self, request: HttpRequest, obj: ApiToken | None = None
    ) -> tuple[str, ...]:
        # A token's site is what it reaches: a token for another site is a new token.
        return self.readonly_fields if obj is None else ("site", *self.readonly_fields)

    @admin.display(description="Token begins with")
    def shown_prefix(self, obj: ApiToken) -> str:
        return f"{obj.prefix}…" if obj.prefix else "—"

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if not change:
            # Shown once by response_add; the database keeps its hash only.
            request._new_api_token = api_tokens.api_token_prepare(obj)  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def response_add(
        self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None
    ) -> HttpResponse:
        token = getattr(request, "_new_api_token", None)
        if token is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": obj,
            "title": f"API token {obj.name} for {obj.site.name}",
            "token": token,
            "list_url": reverse("admin:cobrowse_apitoken_changelist"),
        }
        # admin_view's never_cache: the secret stays in no cache.
        return TemplateResponse(request, "admin/cobrowse/apitoken/created.html", context)

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = api_tokens.api_tokens_revoke(ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request,
            f"Revoked {revoked} token(s): the API refuses them from now on.",
            messages.SUCCESS,
        )


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin[Team]):
    list_display = ("name", "served", "size")
    search_fields = ("name",)
    filter_horizontal = ("sites", "members")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return super().get_queryset(request).prefetch_related("sites", "members")

    @admin.display(description="Sites")
    def served(self, obj: Team) -> str:
        return ", ".join(site.name for site in obj.sites.all()) or "—"

    @admin.display(description="Members")
    def size(self, obj: Team) -> int:
        return len(obj.members.all())


class ParticipantInline(admin.TabularInline[Participant, Session]):
    model = Participant
    extra = 0
    can_delete = False
    fields = ("id", "role", "user", "display_name", "joined_at", "connected_at", "left_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin[Session]):
    list_display = (
        "code",
        "site",
        "customer",
        "status",
        "created_at",
        "ended_at",
        "head_seq",
        "journal",
        "review",
    )
    list_filter = ("status", "site", "identity_verified")
    list_select_related = ("site",)
    search_fields = ("code", "id", "customer_id", "customer_email")
    readonly_fields = (
        "id",
        "code",
        "site",
        "identity_verified",
        "customer_id",
        "customer_name",
        "customer_email",
        "status",
        "created_at",
        "started_at",
        "ended_at",
        "head_seq",
        "head_hash",
        "snapshot_seq",
        "control_participant",
        "customer_session_key",
    )
    inlines = [ParticipantInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Session]:
        return policy.sessions_served(request.user, super().get_queryset(request))

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Session | None:
        # Of every site, so that another team's session is refused (has_view_permission),
        # not reported missing.
        try:
            return Session.objects.select_related("site").get(pk=object_id)
        except (Session.DoesNotExist, ValidationError, ValueError):
            return None

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_view_permission(request, obj)
        return allowed and (obj is None or policy.may_serve(request.user, obj))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or policy.may_serve(request.user, obj))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or policy.may_serve(request.user, obj))

    # Deleting goes through the session row lock (lifecycle.sessions_delete), so that a
    # journal append under way cannot leave rows behind.
    def delete_model(self, request: HttpRequest, obj: Session) -> None:
        lifecycle.sessions_delete(ids=[obj.pk])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Session]) -> None:
        lifecycle.sessions_delete(ids=list(queryset.values_list("pk", flat=True)))

    @admin.display(description="Customer")
    def customer(self, obj: Session) -> str:
        if not obj.identity_verified:
            return "not verified"
        return f"{obj.customer_name or obj.customer_id} (verified)"

    @admin.display(description="Journal")
    def journal(self, obj: Session) -> str:
        url = reverse("admin:cobrowse_operation_changelist") + f"?session__id__exact={obj.pk}"
        return format_html('<a href="{}">{} ops</a>', url, obj.head_seq)

    @admin.display(description="Review")
    def review(self, obj: Session) -> str:
        return format_html(
            '<a href="{}" class="replay-link">Replay</a> · <a href="{}">JSON</a>',
            reverse("admin:cobrowse_session_replay", args=[obj.pk]),
            reverse("admin:cobrowse_session_export", args=[obj.pk]) + "?download=1",
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    # --- Replay and export -------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<uuid:object_id>/replay/",
                self.admin_site.admin_view(self.replay_view),
                name="cobrowse_session_replay",
            ),
            path(
                "<uuid:object_id>/journal.json",
                self.admin_site.admin_view(self.export_view),
                name="cobrowse_session_export",
            ),
        ]
        return own + super().get_urls()

    def _viewable(self, request: HttpRequest, object_id: Any) -> Session:
        session = get_object_or_404(Session.objects.select_related("site"), pk=object_id)
        if not self.has_view_permission(request, session):
            raise PermissionDenied
        return session

    def replay_view(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        """Plays the session back from its journal with rrweb's Replayer (static/helpdesk/
        replay.js), the operators' pointer, highlights and the chat alongside in time."""
        session = self._viewable(request, object_id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": session,
            "title": f"Replay of session {session.code} on {session.site.name}",
            "replay_config": {
                "export_url": reverse("admin:cobrowse_session_export", args=[session.pk]),
                "session": str(session.pk),
            },
        }
        return TemplateResponse(request, "admin/cobrowse/session/replay.html", context)

    def export_view(self, request: HttpRequest, object_id: Any) -> JsonResponse:
        session = self._viewable(request, object_id)
        response = JsonResponse(selectors.journal_export(session_id=session.pk))
        if request.GET.get("download"):
            response["Content-Disposition"] = (
                f'attachment; filename="session-{session.code}-{session.pk}.json"'
            )
        return response


@admin.register(Operation)
class OperationAdmin(admin.ModelAdmin[Operation]):
    list_display = (
        "seq",
        "session",
        "site",
        "kind",
        "element",
        "element_seq",
        "delivery",
        "sender",
        "received_at",
    )
    list_filter = (
        "kind",
        "sender__role",
        ("sender", admin.RelatedOnlyFieldListFilter),
        "delivery",
        ("session__site", admin.RelatedOnlyFieldListFilter),
    )
    list_select_related = ("session", "session__site", "sender")
    ordering = ("session", "seq")
    search_fields = ("session__code", "client_op_id", "element")
    readonly_fields = [f.name for f in Operation._meta.fields]
    list_per_page = 200

    def get_queryset(self, request: HttpRequest) -> QuerySet[Operation]:
        served = policy.sites_served(request.user)
        operations = super().get_queryset(request)
        return operations if served is None else operations.filter(session__site__in=served)

    @admin.display(description="Site", ordering="session__site__name")
    def site(self, obj: Operation) -> str:
        return obj.session.site.name

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Webhooks (cobrowse/webhooks.py) ------------------------------------------------------------


class WebhookEndpointForm(forms.ModelForm[WebhookEndpoint]):
    url = forms.URLField(max_length=500, assume_scheme="https", help_text="Where to POST events.")
    events = forms.MultipleChoiceField(
        choices=WebhookEventType.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=list(WebhookEventType.values),
        help_text="The events this URL receives.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("site", "url", "events", "enabled")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin[WebhookEndpoint]):
    form = WebhookEndpointForm
    list_display = ("url", "site", "subscribed", "enabled", "created_at", "deliveries")
    list_filter = ("enabled", "site")
    search_fields = ("url", "site__name")
    readonly_fields = ("secret", "created_at")
    actions = ("rotate_secret",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookEndpoint]:
        served = policy.sites_served(request.user)
        endpoints = super().get_queryset(request)
        return endpoints if served is None else endpoints.filter(site__in=served)

    def get_fields(
        self, request: HttpRequest, obj: WebhookEndpoint | None = None
    ) -> tuple[str, ...]:
        fields = ("site", "url", "events", "enabled")
        return fields if obj is None else (*fields, "secret", "created_at")

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        served = policy.sites_served(request.user)
        if db_field.name == "site" and served is not None:
            kwargs["queryset"] = served
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="Events")
    def subscribed(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.events or ()) or "—"

    @admin.display(description="Deliveries")
    def deliveries(self, obj: WebhookEndpoint) -> str:
        url = (
            reverse("admin:cobrowse_webhookdelivery_changelist") + f"?endpoint__id__exact={obj.pk}"
        )
        return format_html('<a href="{}">Deliveries</a>', url)

    @admin.action(description="Give the selected endpoints a new signing secret")
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            endpoint.secret = new_secret()
            endpoint.save(update_fields=["secret"])
        self.message_user(
            request,
            f"New secrets for {queryset.count()} endpoint(s): give each to its receiver.",
            messages.SUCCESS,
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin[WebhookDelivery]):
    list_display = (
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "created_at",
    )
    list_filter = ("status", "event__type", "endpoint__site")
    search_fields = ("id", "event__id", "endpoint__url")
    list_select_related = ("event", "endpoint")
    actions = ("redeliver",)
    readonly_fields = (
        "id",
        "endpoint",
        "event_type",
        "status",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "last_status_code",
        "last_error",
        "delivered_at",
        "created_at",
        "payload",
    )
    fields = readonly_fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookDelivery]:
        served = policy.sites_served(request.user)
        deliveries = super().get_queryset(request)
        return deliveries if served is None else deliveries.filter(endpoint__site__in=served)

    @admin.display(description="Event", ordering="event__type")
    def event_type(self, obj: WebhookDelivery) -> str:
        return obj.event.type

    @admin.display(description="Payload")
    def payload(self, obj: WebhookDelivery) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.event.payload, indent=2))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Redeliver the selected deliveries now", permissions=["view"])
    def redeliver(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        count = webhooks.deliveries_redeliver(deliveries=queryset)
        self.message_user(request, f"{count} deliverie(s) will be sent again.", messages.SUCCESS)

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<uuid:object_id>/redeliver/",
                self.admin_site.admin_view(self.redeliver_view),
                name="cobrowse_webhookdelivery_redeliver",
            ),
        ]
        return own + super().get_urls()

    def redeliver_view(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        delivery = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_view_permission(request, delivery):
            raise PermissionDenied
        self.redeliver(request, WebhookDelivery.objects.filter(pk=delivery.pk))
        return HttpResponseRedirect(
            reverse("admin:cobrowse_webhookdelivery_change", args=[delivery.pk])
        )
