"""Imaging a radiologist can read: DICOM reading, studies, identity checks, quality verdicts,
previews."""
