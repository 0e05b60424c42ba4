"""Image requests the service renders from slides: IIIF parameters and their rendering."""
