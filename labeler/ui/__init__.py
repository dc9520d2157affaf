"""The Qt desktop app. The only part of `labeler` that imports PySide6."""
