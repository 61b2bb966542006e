"""The shop's catalogue. Nothing a customer types at checkout is ever stored: there is no order
or payment model on purpose (see `views.checkout`)."""

from __future__ import annotations

from django.db import models


class Art(models.TextChoices):
    """Which inline SVG illustration stands in for a product photo."""

    MUG = "mug", "Mug"
    TOTE = "tote", "Tote bag"
    LAMP = "lamp", "Lamp"
    NOTEBOOK = "notebook", "Notebook"
    PLANT = "plant", "Plant"
    CANDLE = "candle", "Candle"
    HEADPHONES = "headphones", "Headphones"
    BACKPACK = "backpack", "Backpack"
    WATCH = "watch", "Watch"
    TEAPOT = "teapot", "Teapot"


class Product(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=80)
    tagline = models.CharField(max_length=120)
    description = models.TextField()
    price = models.DecimalField(max_digits=8, decimal_places=2, help_text="In EUR.")
    art = models.CharField(max_length=16, choices=Art.choices)
    # Colour of the illustration's background, an HSL hue in degrees.
    hue = models.PositiveSmallIntegerField(default=200)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def hue_class(self) -> str:
        """The class that tints the illustration (shop.css has one per 5 degrees): the pages'
        Content-Security-Policy allows no inline style attribute."""
        return f"art--hue-{round(self.hue / 5) * 5 % 360}"
