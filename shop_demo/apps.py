from django.apps import AppConfig


class ShopDemoConfig(AppConfig):
    name = "shop_demo"
    verbose_name = "Demo shop and bank"
