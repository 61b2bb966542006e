"""Operator dashboard pages."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from cobrowse.models import Session, Status


@login_required
@permission_required("cobrowse.operate_session", raise_exception=True)
def dashboard(request: HttpRequest) -> HttpResponse:
    waiting = Session.objects.filter(status=Status.WAITING).order_by("created_at")
    return render(request, "helpdesk/dashboard.html", {"waiting": waiting})
