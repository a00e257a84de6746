"""The expert roster (专家库): who may carry out expert surveys, its writer, pages and API."""
