"""View models: what each screen shows, as plain data. They never import pygame; kiosk.ui renders them."""
