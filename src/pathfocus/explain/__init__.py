"""Explanations: Grad-CAM of patch models (gradcam), scores against known structures (localisation),
explain folders on disk (outputs, files) and slide views (slide_views)."""
