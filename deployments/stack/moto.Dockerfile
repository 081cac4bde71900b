# A stand-in for the official motoserver/moto image (an S3-compatible server; the port from
# MOTO_PORT), for machines where no registry serves images: moto's server installed on the
# lume-prefect image, whose dependencies already hold most of moto's. scripts/build-images.sh
# builds it; elsewhere deployments/compose.yaml uses the official image.
ARG BASE=lume-prefect:latest
FROM ${BASE}
# moto's S3 backend and the server's web framework only (moto[server] adds every service's).
RUN pip install --quiet "moto[s3]>=5,<6" flask flask-cors
# Where deployments/compose.yaml's s3-data volume is mounted (a new volume takes this owner).
USER root
RUN mkdir -p /var/lib/moto && chown lume:lume /var/lib/moto
USER lume
ENTRYPOINT ["moto_server", "-H", "0.0.0.0"]
