"""Sessions, participants and the read-only journal in Django admin."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from .models import Operation, Participant, Session


class ParticipantInline(admin.TabularInline[Participant, Session]):
    model = Participant
    extra = 0
    can_delete = False
    fields = ("id", "role", "user", "display_name", "joined_at", "left_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin[Session]):
    list_display = ("code", "site", "status", "created_at", "ended_at", "head_seq", "journal")
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


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
