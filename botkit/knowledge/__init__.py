"""Knowledge: documents indexed in Chroma and retrieved into answers, with citations."""
