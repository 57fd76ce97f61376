"""dcmrecv_cluster.workers"""
