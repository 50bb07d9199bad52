"""Reusable ComponentResources. None of them reads config or knows which stack it is in."""

from components.aks_engine_cluster import AksEngineCluster, AksEngineClusterArgs
from components.backup_storage import BackupStorage, BackupStorageArgs
from components.cluster_platform import ClusterPlatform, ClusterPlatformArgs
from components.container_registry import ContainerRegistry, ContainerRegistryArgs
from components.database_backup import DatabaseBackup, DatabaseBackupArgs
from components.global_traffic_manager import GlobalTrafficManager, GlobalTrafficManagerArgs
from components.hub_network import HubNetwork, HubNetworkArgs
from components.log_ingestion import LogIngestion, LogIngestionArgs
from components.ratings_app import RatingsApp, RatingsAppArgs

__all__ = [
    "AksEngineCluster",
    "AksEngineClusterArgs",
    "BackupStorage",
    "BackupStorageArgs",
    "ClusterPlatform",
    "ClusterPlatformArgs",
    "ContainerRegistry",
    "ContainerRegistryArgs",
    "DatabaseBackup",
    "DatabaseBackupArgs",
    "GlobalTrafficManager",
    "GlobalTrafficManagerArgs",
    "HubNetwork",
    "HubNetworkArgs",
    "LogIngestion",
    "LogIngestionArgs",
    "RatingsApp",
    "RatingsAppArgs",
]
