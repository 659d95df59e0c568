"""Persons: a shot's face tracks grouped by identity, so every stage can work on the person the user picks."""
