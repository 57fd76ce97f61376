"""dcmrecv_cluster.loadtest"""
