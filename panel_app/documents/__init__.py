"""Documents the service produces: PDFs (WeasyPrint), calendar files (icalendar), emails (SMTP,
sent only after the request's transaction commits). Each is one helper used by every capability."""
