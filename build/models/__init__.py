"""Every recommender behind one interface (base.Recommender), registered by name in registry."""
