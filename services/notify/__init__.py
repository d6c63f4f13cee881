"""Notifications to citizens (SMS, e-mail, Zalo) about their dossiers."""
