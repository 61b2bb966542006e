from __future__ import annotations

from django.apps import AppConfig


class ShopDemoConfig(AppConfig):
    """The customer side of the demo: a small web shop under /shop/ and an online bank under
    /bank/, each page carrying the "Get help" button that starts a co-browsing session."""

    name = "shop_demo"
    verbose_name = "Demo shop and bank"
    default_auto_field = "django.db.models.BigAutoField"
