"""The widget's script tag on the demo merchant's pages, exactly as docs/install.md tells a
merchant to write it: `{% cobrowse_embed "pk_demo_shop" %}`, or with the bank's signed identity
`{% cobrowse_embed "pk_demo_bank" signed=True %}`."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.utils.html import format_html
from django.utils.safestring import SafeString

from shop_demo.identity import bank_identity

register = template.Library()


@register.simple_tag
def cobrowse_embed(site: str, *, signed: bool = False) -> SafeString:
    src = f"{settings.COBROWSE_DESK_URL.rstrip('/')}/static/cobrowse/embed.js"
    if signed:
        return format_html(
            '<script src="{}" data-site="{}" data-identity="{}" async></script>',
            src,
            site,
            bank_identity(),
        )
    return format_html('<script src="{}" data-site="{}" async></script>', src, site)
