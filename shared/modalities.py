"""SOP Class UID -> short modality prefix used in dcmrecv's file names.

The table is DCMTK 3.6.7's ``modalities[]`` (``dcmSOPClassUIDToModality``,
``dcuid.cc``) in source order: reference Appendix A, 194 entries.  DCMTK
searches it linearly and returns the first match, so order is kept even
though every UID occurs once (the dict below is built first-match-wins).
"""

from __future__ import annotations

__all__ = ["MODALITY_TABLE", "modality_prefix"]

#: (SOP Class UID, prefix) in DCMTK's source order; comment = DCMTK UID name.
MODALITY_TABLE: tuple[tuple[str, str], ...] = (
    ("1.2.840.10008.5.1.4.1.1.88.71", "SRa"),  # AcquisitionContextSRStorage
    ("1.2.840.10008.5.1.4.1.1.11.8", "PSa"),  # AdvancedBlendingPresentationStateStorage
    ("1.2.840.10008.5.1.4.1.1.9.1.3", "ECA"),  # AmbulatoryECGWaveformStorage
    ("1.2.840.10008.5.1.4.1.1.9.5.1", "WVa"),  # ArterialPulseWaveformStorage
    ("1.2.840.10008.5.1.4.1.1.78.2", "OPa"),  # AutorefractionMeasurementsStorage
    ("1.2.840.10008.5.1.4.1.1.131", "SD"),  # BasicStructuredDisplayStorage
    ("1.2.840.10008.5.1.4.1.1.88.11", "SRt"),  # BasicTextSRStorage
    ("1.2.840.10008.5.1.4.1.1.9.4.1", "AUV"),  # BasicVoiceAudioWaveformStorage
    ("1.2.840.10008.5.1.4.1.1.11.4", "PSb"),  # BlendingSoftcopyPresentationStateStorage
    ("1.2.840.10008.5.1.4.1.1.9.8.1", "WVb"),  # BodyPositionWaveformStorage
    ("1.2.840.10008.5.1.4.1.1.13.1.4", "BX"),  # BreastProjectionXRayImageStorageForPresentation
    ("1.2.840.10008.5.1.4.1.1.13.1.5", "BP"),  # BreastProjectionXRayImageStorageForProcessing
    ("1.2.840.10008.5.1.4.1.1.13.1.3", "BT"),  # BreastTomosynthesisImageStorage
    ("1.2.840.10008.5.1.4.1.1.9.3.1", "WVc"),  # CardiacElectrophysiologyWaveformStorage
    ("1.2.840.10008.5.1.4.1.1.481.19", "RRc"),  # CArmPhotonElectronRadiationRecordStorage
    ("1.2.840.10008.5.1.4.1.1.481.13", "Rca"),  # CArmPhotonElectronRadiationStorage
    ("1.2.840.10008.5.1.4.1.1.88.65", "SRh"),  # ChestCADSRStorage
    ("1.2.840.10008.5.1.4.1.1.88.69", "SRo"),  # ColonCADSRStorage
    ("1.2.840.10008.5.1.4.39.1", "CP"),  # ColorPaletteStorage
    ("1.2.840.10008.5.1.4.1.1.11.2", "PSc"),  # ColorSoftcopyPresentationStateStorage
    ("1.2.840.10008.5.1.4.1.1.11.7", "VPc"),  # CompositingPlanarMPRVolumetricPresentationStateStorage
    ("1.2.840.10008.5.1.4.1.1.88.34", "SR3"),  # Comprehensive3DSRStorage
    ("1.2.840.10008.5.1.4.1.1.88.33", "SRc"),  # ComprehensiveSRStorage
    ("1.2.840.10008.5.1.4.1.1.1", "CR"),  # ComputedRadiographyImageStorage
    ("1.2.840.10008.5.1.4.1.1.90.1", "AS"),  # ContentAssessmentResultsStorage
    ("1.2.840.10008.5.1.4.1.1.82.1", "CM"),  # CornealTopographyMapStorage
    ("1.2.840.10008.5.1.4.1.1.200.1", "PPcd"),  # CTDefinedProcedureProtocolStorage
    ("1.2.840.10008.5.1.4.1.1.2", "CT"),  # CTImageStorage
    ("1.2.840.10008.5.1.4.1.1.200.2", "PPcp"),  # CTPerformedProcedureProtocolStorage
    ("1.2.840.10008.5.1.4.1.1.66.3", "RGd"),  # DeformableSpatialRegistrationStorage
    ("1.2.840.10008.5.1.4.1.1.77.1.7", "VLd"),  # DermoscopicPhotographyImageStorage
    ("1.2.840.10008.5.1.4.1.1.1.3", "DXo"),  # DigitalIntraOralXRayImageStorageForPresentation
    ("1.2.840.10008.5.1.4.1.1.1.3.1", "DPo"),  # DigitalIntraOralXRayImageStorageForProcessing
    ("1.2.840.10008.5.1.4.1.1.1.2", "DXm"),  # DigitalMammographyXRayImageStorageForPresentation
    ("1.2.840.10008.5.1.4.1.1.1.2.1", "DPm"),  # DigitalMammographyXRayImageStorageForProcessing
    ("1.2.840.10008.5.1.4.1.1.1.1", "DX"),  # DigitalXRayImageStorageForPresentation
    ("1.2.840.10008.5.1.4.1.1.1.1.1", "DP"),  # DigitalXRayImageStorageForProcessing
    ("1.2.840.10008.5.1.4.1.1.9.7.2", "EMG"),  # ElectromyogramWaveformStorage
    ("1.2.840.10008.5.1.4.1.1.9.7.3", "EOG"),  # ElectrooculogramWaveformStorage
    ("1.2.840.10008.5.1.4.1.1.104.2", "CDA"),  # EncapsulatedCDAStorage
    ("1.2.840.10008.5.1.4.1.1.104.5", "MTL"),  # EncapsulatedMTLStorage
    ("1.2.840.10008.5.1.4.1.1.104.4", "OBJ"),  # EncapsulatedOBJStorage
    ("1.2.840.10008.5.1.4.1.1.104.1", "PDF"),  # EncapsulatedPDFStorage
    ("1.2.840.10008.5.1.4.1.1.104.3", "STL"),  # EncapsulatedSTLStorage
    ("1.2.840.10008.5.1.4.1.1.2.1", "CTe"),  # EnhancedCTImageStorage
    ("1.2.840.10008.5.1.4.1.1.4.3", "MRc"),  # EnhancedMRColorImageStorage
    ("1.2.840.10008.5.1.4.1.1.4.1", "MRe"),  # EnhancedMRImageStorage
    ("1.2.840.10008.5.1.4.1.1.130", "PIe"),  # EnhancedPETImageStorage
    ("1.2.840.10008.5.1.4.1.1.88.22", "SRe"),  # EnhancedSRStorage
    ("1.2.840.10008.5.1.4.1.1.6.2", "USe"),  # EnhancedUSVolumeStorage
    ("1.2.840.10008.5.1.4.1.1.12.1.1", "XAe"),  # EnhancedXAImageStorage
    ("1.2.840.10008.5.1.4.1.1.88.76", "SRde"),  # EnhancedXRayRadiationDoseSRStorage
    ("1.2.840.10008.5.1.4.1.1.12.2.1", "RFe"),  # EnhancedXRFImageStorage
    ("1.2.840.10008.5.1.4.1.1.88.35", "SRx"),  # ExtensibleSRStorage
    ("1.2.840.10008.5.1.4.1.1.9.4.2", "AUG"),  # GeneralAudioWaveformStorage
    ("1.2.840.10008.5.1.4.1.1.9.1.2", "ECG"),  # GeneralECGWaveformStorage
    ("1.2.840.10008.5.1.4.43.1", "IT"),  # GenericImplantTemplateStorage
    ("1.2.840.10008.5.1.4.1.1.11.6", "VPg"),  # GrayscalePlanarMPRVolumetricPresentationStateStorage
    ("1.2.840.10008.5.1.4.1.1.11.1", "PSg"),  # GrayscaleSoftcopyPresentationStateStorage
    ("1.2.840.10008.5.1.4.38.1", "HP"),  # HangingProtocolStorage
    ("1.2.840.10008.5.1.4.1.1.9.2.1", "WVh"),  # HemodynamicWaveformStorage
    ("1.2.840.10008.5.1.4.44.1", "ITa"),  # ImplantAssemblyTemplateStorage
    ("1.2.840.10008.5.1.4.1.1.88.70", "SRi"),  # ImplantationPlanSRDocumentStorage
    ("1.2.840.10008.5.1.4.45.1", "ITg"),  # ImplantTemplateGroupStorage
    ("1.2.840.10008.5.1.4.1.1.78.8", "OPc"),  # IntraocularLensCalculationsStorage
    ("1.2.840.10008.5.1.4.1.1.14.1", "OCt"),  # IntravascularOpticalCoherenceTomographyImageStorageForPresentation
    ("1.2.840.10008.5.1.4.1.1.14.2", "OCp"),  # IntravascularOpticalCoherenceTomographyImageStorageForProcessing
    ("1.2.840.10008.5.1.4.1.1.78.3", "OPk"),  # KeratometryMeasurementsStorage
    ("1.2.840.10008.5.1.4.1.1.88.59", "KO"),  # KeyObjectSelectionDocumentStorage
    ("1.2.840.10008.5.1.4.1.1.2.2", "CTl"),  # LegacyConvertedEnhancedCTImageStorage
    ("1.2.840.10008.5.1.4.1.1.4.4", "MRl"),  # LegacyConvertedEnhancedMRImageStorage
    ("1.2.840.10008.5.1.4.1.1.128.1", "PIl"),  # LegacyConvertedEnhancedPETImageStorage
    ("1.2.840.10008.5.1.4.1.1.78.1", "OPl"),  # LensometryMeasurementsStorage
    ("1.2.840.10008.5.1.4.1.1.79.1", "SRg"),  # MacularGridThicknessAndVolumeReportStorage
    ("1.2.840.10008.5.1.4.1.1.88.50", "SRm"),  # MammographyCADSRStorage
    ("1.2.840.10008.5.1.4.1.1.91.1", "MAs"),  # MicroscopyBulkSimpleAnnotationsStorage
    ("1.2.840.10008.5.1.4.1.1.4", "MR"),  # MRImageStorage
    ("1.2.840.10008.5.1.4.1.1.4.2", "MRs"),  # MRSpectroscopyStorage
    ("1.2.840.10008.5.1.4.1.1.9.6.2", "WVm"),  # MultichannelRespiratoryWaveformStorage
    ("1.2.840.10008.5.1.4.1.1.7.2", "SCb"),  # MultiframeGrayscaleByteSecondaryCaptureImageStorage
    ("1.2.840.10008.5.1.4.1.1.7.3", "SCw"),  # MultiframeGrayscaleWordSecondaryCaptureImageStorage
    ("1.2.840.10008.5.1.4.1.1.7.1", "SCs"),  # MultiframeSingleBitSecondaryCaptureImageStorage
    ("1.2.840.10008.5.1.4.1.1.7.4", "SCc"),  # MultiframeTrueColorSecondaryCaptureImageStorage
    ("1.2.840.10008.5.1.4.1.1.11.11", "VPm"),  # MultipleVolumeRenderingVolumetricPresentationStateStorage
    ("1.2.840.10008.5.1.4.1.1.20", "NM"),  # NuclearMedicineImageStorage
    ("1.2.840.10008.5.1.4.1.1.78.7", "OPx"),  # OphthalmicAxialMeasurementsStorage
    ("1.2.840.10008.5.1.4.1.1.77.1.5.8", "OCb"),  # OphthalmicOpticalCoherenceTomographyBscanVolumeAnalysisStorage
    ("1.2.840.10008.5.1.4.1.1.77.1.5.7", "OCe"),  # OphthalmicOpticalCoherenceTomographyEnFaceImageStorage
    ("1.2.840.10008.5.1.4.1.1.77.1.5.2", "OPw"),  # OphthalmicPhotography16BitImageStorage
    ("1.2.840.10008.5.1.4.1.1.77.1.5.1", "OPb"),  # OphthalmicPhotography8BitImageStorage
    ("1.2.840.10008.5.1.4.1.1.81.1", "OPm"),  # OphthalmicThicknessMapStorage
    ("1.2.840.10008.5.1.4.1.1.77.1.5.4", "OPt"),  # OphthalmicTomographyImageStorage
    ("1.2.840.10008.5.1.4.1.1.80.1", "OPp"),  # OphthalmicVisualFieldStaticPerimetryMeasurementsStorage
    ("1.2.840.10008.5.1.4.1.1.30", "PM"),  # ParametricMapStorage
    ("1.2.840.10008.5.1.4.1.1.88.73", "SRq"),  # PatientRadiationDoseSRStorage
    ("1.2.840.10008.5.1.4.1.1.88.75", "SRi"),  # PerformedImagingAgentAdministrationSRStorage
    ("1.2.840.10008.5.1.4.1.1.88.74", "SRj"),  # PlannedImagingAgentAdministrationSRStorage
    ("1.2.840.10008.5.1.4.1.1.128", "PI"),  # PositronEmissionTomographyImageStorage
    ("1.2.840.10008.5.1.4.1.1.88.40", "SRp"),  # ProcedureLogStorage
    ("1.2.840.10008.5.1.4.1.1.200.3", "PA"),  # ProtocolApprovalStorage
    ("1.2.840.10008.5.1.4.1.1.11.3", "PSp"),  # PseudoColorSoftcopyPresentationStateStorage
    ("1.2.840.10008.5.1.4.1.1.88.68", "SRr"),  # RadiopharmaceuticalRadiationDoseSRStorage
    ("1.2.840.10008.5.1.4.1.1.66", "RAW"),  # RawDataStorage
    ("1.2.840.10008.5.1.4.1.1.67", "RWM"),  # RealWorldValueMappingStorage
    ("1.2.840.10008.5.1.4.1.1.9.6.1", "WVr"),  # RespiratoryWaveformStorage
    ("1.2.840.10008.5.1.4.1.1.481.15", "Rra"),  # RoboticArmRadiationStorage
    ("1.2.840.10008.5.1.4.1.1.481.20", "RRr"),  # RoboticRadiationRecordStorage
    ("1.2.840.10008.5.1.4.1.1.9.7.1", "EEG"),  # RoutineScalpElectroencephalogramWaveformStorage
    ("1.2.840.10008.5.1.4.34.7", "RTd"),  # RTBeamsDeliveryInstructionStorage
    ("1.2.840.10008.5.1.4.1.1.481.4", "RTb"),  # RTBeamsTreatmentRecordStorage
    ("1.2.840.10008.5.1.4.34.10", "RTa"),  # RTBrachyApplicationSetupDeliveryInstructionStorage
    ("1.2.840.10008.5.1.4.1.1.481.6", "RTr"),  # RTBrachyTreatmentRecordStorage
    ("1.2.840.10008.5.1.4.1.1.481.2", "RD"),  # RTDoseStorage
    ("1.2.840.10008.5.1.4.1.1.481.1", "RI"),  # RTImageStorage
    ("1.2.840.10008.5.1.4.1.1.481.9", "RTi"),  # RTIonBeamsTreatmentRecordStorage
    ("1.2.840.10008.5.1.4.1.1.481.8", "RPi"),  # RTIonPlanStorage
    ("1.2.840.10008.5.1.4.1.1.481.5", "RP"),  # RTPlanStorage
    ("1.2.840.10008.5.1.4.1.1.481.10", "RIp"),  # RTPhysicianIntentStorage
    ("1.2.840.10008.5.1.4.1.1.481.16", "RSr"),  # RTRadiationRecordSetStorage
    ("1.2.840.10008.5.1.4.1.1.481.17", "RRs"),  # RTRadiationSalvageRecordStorage
    ("1.2.840.10008.5.1.4.1.1.481.21", "RSd"),  # RTRadiationSetDeliveryInstructionStorage
    ("1.2.840.10008.5.1.4.1.1.481.12", "RSe"),  # RTRadiationSetStorage
    ("1.2.840.10008.5.1.4.1.1.481.11", "RAs"),  # RTSegmentAnnotationStorage
    ("1.2.840.10008.5.1.4.1.1.481.3", "RS"),  # RTStructureSetStorage
    ("1.2.840.10008.5.1.4.1.1.481.22", "RTp"),  # RTTreatmentPreparationStorage
    ("1.2.840.10008.5.1.4.1.1.481.7", "RTs"),  # RTTreatmentSummaryRecordStorage
    ("1.2.840.10008.5.1.4.1.1.7", "SC"),  # SecondaryCaptureImageStorage
    ("1.2.840.10008.5.1.4.1.1.66.4", "SG"),  # SegmentationStorage
    ("1.2.840.10008.5.1.4.1.1.11.10", "VPs"),  # SegmentedVolumeRenderingVolumetricPresentationStateStorage
    ("1.2.840.10008.5.1.4.1.1.88.72", "SRu"),  # SimplifiedAdultEchoSRStorage
    ("1.2.840.10008.5.1.4.1.1.9.7.4", "WVs"),  # SleepElectroencephalogramWaveformStorage
    ("1.2.840.10008.5.1.4.1.1.66.2", "FID"),  # SpatialFiducialsStorage
    ("1.2.840.10008.5.1.4.1.1.66.1", "RGs"),  # SpatialRegistrationStorage
    ("1.2.840.10008.5.1.4.1.1.78.6", "SRs"),  # SpectaclePrescriptionReportStorage
    ("1.2.840.10008.5.1.4.1.1.77.1.5.3", "OPr"),  # StereometricRelationshipStorage
    ("1.2.840.10008.5.1.4.1.1.78.4", "OPs"),  # SubjectiveRefractionMeasurementsStorage
    ("1.2.840.10008.5.1.4.1.1.68.1", "SSm"),  # SurfaceScanMeshStorage
    ("1.2.840.10008.5.1.4.1.1.68.2", "SSp"),  # SurfaceScanPointCloudStorage
    ("1.2.840.10008.5.1.4.1.1.66.5", "SGs"),  # SurfaceSegmentationStorage
    ("1.2.840.10008.5.1.4.1.1.481.18", "RRt"),  # TomotherapeuticRadiationRecordStorage
    ("1.2.840.10008.5.1.4.1.1.481.14", "Rto"),  # TomotherapeuticRadiationStorage
    ("1.2.840.10008.5.1.4.1.1.66.6", "TR"),  # TractographyResultsStorage
    ("1.2.840.10008.5.1.4.1.1.9.1.1", "TLE"),  # TwelveLeadECGWaveformStorage
    ("1.2.840.10008.5.1.4.1.1.6.1", "US"),  # UltrasoundImageStorage
    ("1.2.840.10008.5.1.4.1.1.3.1", "USm"),  # UltrasoundMultiframeImageStorage
    ("1.2.840.10008.5.1.4.1.1.77.1.1.1", "VVe"),  # VideoEndoscopicImageStorage
    ("1.2.840.10008.5.1.4.1.1.77.1.2.1", "VVm"),  # VideoMicroscopicImageStorage
    ("1.2.840.10008.5.1.4.1.1.77.1.4.1", "VVp"),  # VideoPhotographicImageStorage
    ("1.2.840.10008.5.1.4.1.1.78.5", "OPv"),  # VisualAcuityMeasurementsStorage
    ("1.2.840.10008.5.1.4.1.1.77.1.1", "VLe"),  # VLEndoscopicImageStorage
    ("1.2.840.10008.5.1.4.1.1.77.1.2", "VLm"),  # VLMicroscopicImageStorage
    ("1.2.840.10008.5.1.4.1.1.77.1.4", "VLp"),  # VLPhotographicImageStorage
    ("1.2.840.10008.5.1.4.1.1.77.1.3", "VLs"),  # VLSlideCoordinatesMicroscopicImageStorage
    ("1.2.840.10008.5.1.4.1.1.77.1.6", "VLw"),  # VLWholeSlideMicroscopyImageStorage
    ("1.2.840.10008.5.1.4.1.1.11.9", "VPv"),  # VolumeRenderingVolumetricPresentationStateStorage
    ("1.2.840.10008.5.1.4.1.1.77.1.5.5", "OWs"),  # WideFieldOphthalmicPhotographyStereographicProjectionImageStorage
    ("1.2.840.10008.5.1.4.1.1.77.1.5.6", "OW3"),  # WideFieldOphthalmicPhotography3DCoordinatesImageStorage
    ("1.2.840.10008.5.1.4.1.1.200.7", "PPxd"),  # XADefinedProcedureProtocolStorage
    ("1.2.840.10008.5.1.4.1.1.200.8", "PPxp"),  # XAPerformedProcedureProtocolStorage
    ("1.2.840.10008.5.1.4.1.1.11.5", "PSx"),  # XAXRFGrayscaleSoftcopyPresentationStateStorage
    ("1.2.840.10008.5.1.4.1.1.13.1.1", "XA3"),  # XRay3DAngiographicImageStorage
    ("1.2.840.10008.5.1.4.1.1.13.1.2", "XC3"),  # XRay3DCraniofacialImageStorage
    ("1.2.840.10008.5.1.4.1.1.12.1", "XA"),  # XRayAngiographicImageStorage
    ("1.2.840.10008.5.1.4.1.1.88.67", "SRd"),  # XRayRadiationDoseSRStorage
    ("1.2.840.10008.5.1.4.1.1.12.2", "RF"),  # XRayRadiofluoroscopicImageStorage
    ("1.2.840.10008.5.1.1.30", "HC"),  # RETIRED_HardcopyColorImageStorage
    ("1.2.840.10008.5.1.1.29", "HG"),  # RETIRED_HardcopyGrayscaleImageStorage
    ("1.2.840.10008.5.1.4.1.1.5", "NMr"),  # RETIRED_NuclearMedicineImageStorage
    ("1.2.840.10008.5.1.4.1.1.9", "CV"),  # RETIRED_StandaloneCurveStorage
    ("1.2.840.10008.5.1.4.1.1.10", "ML"),  # RETIRED_StandaloneModalityLUTStorage
    ("1.2.840.10008.5.1.4.1.1.8", "OV"),  # RETIRED_StandaloneOverlayStorage
    ("1.2.840.10008.5.1.4.1.1.129", "PC"),  # RETIRED_StandalonePETCurveStorage
    ("1.2.840.10008.5.1.4.1.1.11", "VO"),  # RETIRED_StandaloneVOILUTStorage
    ("1.2.840.10008.5.1.1.27", "SP"),  # RETIRED_StoredPrintStorage
    ("1.2.840.10008.5.1.4.1.1.6", "USr"),  # RETIRED_UltrasoundImageStorage
    ("1.2.840.10008.5.1.4.1.1.3", "USf"),  # RETIRED_UltrasoundMultiframeImageStorage
    ("1.2.840.10008.5.1.4.1.1.77.1", "VLr"),  # RETIRED_VLImageStorage
    ("1.2.840.10008.5.1.4.1.1.77.2", "VMr"),  # RETIRED_VLMultiframeImageStorage
    ("1.2.840.10008.5.1.4.1.1.12.3", "XB"),  # RETIRED_XRayAngiographicBiPlaneImageStorage
    ("1.2.840.10008.5.1.4.34.1", "RB_d"),  # DRAFT_RTBeamsDeliveryInstructionStorage
    ("1.2.840.10008.5.1.4.1.1.88.2", "SR_a"),  # DRAFT_SRAudioStorage
    ("1.2.840.10008.5.1.4.1.1.88.4", "SR_c"),  # DRAFT_SRComprehensiveStorage
    ("1.2.840.10008.5.1.4.1.1.88.3", "SR_d"),  # DRAFT_SRDetailStorage
    ("1.2.840.10008.5.1.4.1.1.88.1", "SR_t"),  # DRAFT_SRTextStorage
    ("1.2.840.10008.5.1.4.1.1.9.1", "WV_d"),  # DRAFT_WaveformStorage
    ("1.2.840.10008.5.1.4.1.1.501.1", "CTs"),  # DICOS_CTImageStorage
    ("1.2.840.10008.5.1.4.1.1.501.2.1", "DXs"),  # DICOS_DigitalXRayImageStorageForPresentation
    ("1.2.840.10008.5.1.4.1.1.501.2.2", "DPs"),  # DICOS_DigitalXRayImageStorageForProcessing
    ("1.2.840.10008.5.1.4.1.1.501.3", "TDR"),  # DICOS_ThreatDetectionReportStorage
    ("1.2.840.10008.5.1.4.1.1.501.4", "AI2"),  # DICOS_2DAITStorage
    ("1.2.840.10008.5.1.4.1.1.501.5", "AI3"),  # DICOS_3DAITStorage
    ("1.2.840.10008.5.1.4.1.1.501.6", "QR"),  # DICOS_QuadrupoleResonanceStorage
    ("1.2.840.10008.5.1.4.1.1.601.1", "EC"),  # DICONDE_EddyCurrentImageStorage
    ("1.2.840.10008.5.1.4.1.1.601.2", "ECm"),  # DICONDE_EddyCurrentMultiframeImageStorage
)


def _first_match_index(table: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """Map UID -> prefix keeping the *first* occurrence, like DCMTK's loop."""
    index: dict[str, str] = {}
    for uid, prefix in table:
        index.setdefault(uid, prefix)
    return index


_BY_UID = _first_match_index(MODALITY_TABLE)


def modality_prefix(sop_class_uid: str, fallback: str) -> str:
    """Return the prefix for *sop_class_uid*, or *fallback* when unknown.

    Comparison is exact (``strcmp``): no trimming of padding, so callers
    pass the UID as DCMTK would hold it (trailing NUL/space already gone).
    """
    return _BY_UID.get(sop_class_uid, fallback)
