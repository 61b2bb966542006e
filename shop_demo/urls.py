from __future__ import annotations

from django.urls import path

from . import views

app_name = "shop_demo"
urlpatterns = [
    path("", views.home, name="home"),
    # Shop
    path("shop/", views.product_list, name="product_list"),
    path("shop/products/<slug:slug>/", views.product_detail, name="product_detail"),
    path("shop/cart/", views.cart_detail, name="cart"),
    path("shop/cart/add/<slug:slug>/", views.cart_add, name="cart_add"),
    path("shop/cart/update/<slug:slug>/", views.cart_update, name="cart_update"),
    path("shop/cart/remove/<slug:slug>/", views.cart_remove, name="cart_remove"),
    path("shop/checkout/", views.checkout, name="checkout"),
    path("shop/checkout/done/", views.checkout_done, name="checkout_done"),
    # Bank
    path("bank/", views.bank_accounts, name="bank_accounts"),
    path("bank/transfer/", views.bank_transfer, name="bank_transfer"),
    path("bank/transfer/done/", views.bank_transfer_done, name="bank_transfer_done"),
    path("bank/open-account/", views.bank_open_account, name="bank_open_account"),
    path("bank/open-account/done/", views.bank_open_account_done, name="bank_open_account_done"),
]
