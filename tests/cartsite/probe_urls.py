"""A test-only endpoint behind the real authentication, permission and error handling.

It lets the foundation's cross-cutting behaviour (envelope, limits, database faults, log masking)
be tested without depending on any one app's endpoint.
"""

import logging

from django.urls import include, path
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from carts.auth import IsStorefront, request_store
from carts.models import Cart

logger = logging.getLogger("tests.probe")


class ProbeSerializer(serializers.Serializer):
    storeName = serializers.CharField()
    email = serializers.EmailField(required=False)
    quantity = serializers.IntegerField(min_value=1, required=False)


class ProbeView(APIView):
    permission_classes = [IsStorefront]

    def post(self, request):
        serializer = ProbeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        store = request_store(request, serializer.validated_data["storeName"], field="storeName")
        logger.info(
            "probe for %s", serializer.validated_data.get("email", "nobody"), extra={"customer": dict(request.data)}
        )
        return Response({"store": store.name, "carts": Cart.objects.filter(store=store).count()})


urlpatterns = [
    path("api/probe", ProbeView.as_view()),
    path("", include("cartsite.urls")),
]
