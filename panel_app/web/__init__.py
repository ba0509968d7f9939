"""The HTML door: pages for people, built with GOV.UK Frontend patterns."""
