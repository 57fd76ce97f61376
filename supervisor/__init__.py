"""dcmrecv_cluster.supervisor"""
