"""The demo shop's catalogue. Defined here, not imported from the app, so the migration keeps
producing the same rows whatever the app code becomes."""

from __future__ import annotations

from decimal import Decimal

from django.db import migrations

# (slug, name, tagline, description, price in EUR, art, hue)
PRODUCTS = [
    (
        "harbour-mug",
        "Harbour stoneware mug",
        "Hand-glazed, 350 ml",
        "A heavy stoneware mug with a sea-blue reactive glaze. Every one comes out of the kiln "
        "a little different. Dishwasher and microwave safe.",
        "18.00",
        "mug",
        205,
    ),
    (
        "linen-tote",
        "Linen market tote",
        "Washed linen, long handles",
        "Roomy enough for a week of groceries, soft enough to fold into a coat pocket. Stone-"
        "washed European linen with reinforced seams.",
        "24.50",
        "tote",
        35,
    ),
    (
        "arc-desk-lamp",
        "Arc desk lamp",
        "Warm LED, dimmable",
        "A powder-coated steel lamp with a balanced arm that stays where you put it. Warm "
        "2700 K light, five brightness steps, USB-C powered.",
        "79.00",
        "lamp",
        45,
    ),
    (
        "dot-grid-notebook",
        "Dot-grid notebook A5",
        "160 pages, lay-flat binding",
        "Fountain-pen friendly 100 g/m² paper, numbered pages and two ribbon markers. The "
        "bound spine opens flat on the desk.",
        "12.90",
        "notebook",
        350,
    ),
    (
        "small-monstera",
        "Monstera in a clay pot",
        "Easy-going houseplant, 40 cm",
        "A young Monstera deliciosa in an unglazed terracotta pot. Likes bright, indirect "
        "light and a drink once a week.",
        "29.00",
        "plant",
        135,
    ),
    (
        "fig-cedar-candle",
        "Fig & cedar candle",
        "Soy wax, 45 hours",
        "Green fig, cedarwood and a hint of black pepper, poured by hand into a reusable "
        "amber glass jar with a cotton wick.",
        "16.50",
        "candle",
        20,
    ),
    (
        "quiet-one-headphones",
        "Quiet One headphones",
        "Wireless, noise cancelling",
        "Over-ear headphones with active noise cancelling, 30 hours of battery and soft "
        "memory-foam cushions. Fold flat into the included case.",
        "129.00",
        "headphones",
        255,
    ),
    (
        "roll-top-backpack",
        "Roll-top backpack",
        "Waterproof, 20–26 litres",
        "A welded, waterproof backpack that grows with what you carry. Padded laptop sleeve "
        "and reflective details for the ride home.",
        "89.00",
        "backpack",
        165,
    ),
    (
        "minimal-watch",
        "Minimal wristwatch",
        "38 mm, leather strap",
        "A clean dial, sapphire crystal and a Japanese quartz movement on a vegetable-tanned "
        "leather strap. Water resistant to 50 m.",
        "149.00",
        "watch",
        220,
    ),
    (
        "cast-iron-teapot",
        "Cast-iron teapot",
        "0.8 litre, with infuser",
        "Keeps tea hot for a long second cup. Enamelled inside, with a removable stainless "
        "steel infuser for loose leaves.",
        "54.00",
        "teapot",
        10,
    ),
]


def seed(apps, schema_editor):
    Product = apps.get_model("shop_demo", "Product")
    for slug, name, tagline, description, price, art, hue in PRODUCTS:
        Product.objects.update_or_create(
            slug=slug,
            defaults={
                "name": name,
                "tagline": tagline,
                "description": description,
                "price": Decimal(price),
                "art": art,
                "hue": hue,
            },
        )


def unseed(apps, schema_editor):
    Product = apps.get_model("shop_demo", "Product")
    Product.objects.filter(slug__in=[row[0] for row in PRODUCTS]).delete()


class Migration(migrations.Migration):
    dependencies = [("shop_demo", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
