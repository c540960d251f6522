"""The site's URLs plus the erasure door, until cartsite/urls.py includes cartsite.privacy.

First match wins, so once the lead's include lands this file changes nothing."""

from django.urls import include, path

from cartsite.urls import urlpatterns as site_urlpatterns

urlpatterns = [path("", include("cartsite.privacy")), *site_urlpatterns]
