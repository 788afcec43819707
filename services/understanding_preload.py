"""Imported once, by the understanding pool's fork server (never by the bot): it builds the date
recognizer's models there, so that every worker forked from it starts warm (building them takes
over a second, and a killed worker's replacement must be ready at once)."""

from domain.understanding import warm_up

warm_up()
