"""dcmrecv_cluster.shared"""
