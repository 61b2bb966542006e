"""Sessions, participants and the read-only journal in Django admin, with a Replay page that
plays a session back from its journal and a JSON export of the whole journal."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from . import selectors
from .models import Operation, Participant, Session


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
        "status",
        "created_at",
        "ended_at",
        "head_seq",
        "journal",
        "review",
    )
    list_filter = ("status", "site")
    search_fields = ("code", "id")
    readonly_fields = (
        "id",
        "code",
        "site",
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
        session = get_object_or_404(Session, pk=object_id)
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
            "title": f"Replay of session {session.code}",
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
        "kind",
        "element",
        "element_seq",
        "delivery",
        "sender",
        "received_at",
    )
    list_filter = ("kind", "sender__role", ("sender", admin.RelatedOnlyFieldListFilter), "delivery")
    list_select_related = ("session", "sender")
    ordering = ("session", "seq")
    search_fields = ("session__code", "client_op_id", "element")
    readonly_fields = [f.name for f in Operation._meta.fields]
    list_per_page = 200

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
