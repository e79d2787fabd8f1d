"""HTTP request and response bodies (pydantic): XCreate / XUpdate / XPublic per resource."""
