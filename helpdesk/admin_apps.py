"""Django's admin app, with the admin site that signs in and out as the desk does
(helpdesk.login.DeskAdminSite). In INSTALLED_APPS in place of django.contrib.admin."""

from django.contrib.admin.apps import AdminConfig


class DeskAdminConfig(AdminConfig):
    default_site = "helpdesk.login.DeskAdminSite"
