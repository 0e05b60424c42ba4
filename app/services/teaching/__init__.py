"""Teaching: de-identified copies in collections, trainees' answers, conferences."""
