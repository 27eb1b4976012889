"""Use cases. No Falcon imports here: web/ and api/ call these, these call models/."""
