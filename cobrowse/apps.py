from django.apps import AppConfig


class CobrowseConfig(AppConfig):
    name = "cobrowse"
    verbose_name = "Co-browsing"

    def ready(self) -> None:
        from corsheaders.signals import check_request_enabled

        from .embed_views import cors_allowed

        # CORS for the embed API, decided per request against the site it names.
        check_request_enabled.connect(cors_allowed, dispatch_uid="cobrowse.embed.cors")
