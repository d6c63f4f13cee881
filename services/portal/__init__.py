"""The public-service portal (Cổng dịch vụ công) and the one-stop counter: dossier intake and look-up."""
