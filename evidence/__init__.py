"""The one evidence layer: tool results as evidence text + the IDs and edges it shows, and the citation check."""
